"""The spoken dialogue: the turn loop (`assistant`), what it tells the rest of the box (`events`),
one turn's handle (`turn`), the reply spoken while the LLM writes it (`reply`) and played
(`playout`), the last line of defence against its own voice (`echotext`), and the turn log."""
