"""One module per figure; each is a stage: python -m noisefa.figures.<name> --metrics ... --out ..."""
