"""The commands a user runs, one module each: `run` (daemon), `listen`, `say`, `transcribe` (and on
Ray, raybatch), `check`. `serve` and `wyoming` live with their ways in (api/, wyoming/)."""
