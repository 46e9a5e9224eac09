"""noisefa: random-noise pretraining for feedback alignment (Cheon, Lee & Paik, NeurIPS 2024)."""
