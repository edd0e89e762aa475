//! The five classic interview questions, each made concrete as a kata. Read the question's model
//! answer (`cargo run -- solution <kata>`) after you have tried it.
