//! The five classic interview questions, each made concrete as a kata. Read the question's model
//! answer (`cargo run -- solution <kata>`) after you have tried it.

pub mod q1_shm_vs_messages;
pub mod q2_pipes_vs_sockets;
pub mod q3_named_vs_anonymous;
