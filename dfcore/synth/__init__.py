"""Made-up manipulations: self-blending (used by training) and the sample clips (used by the app)."""
