"""Files in, frames out: decoding, seeking, clip memory and writing video."""
