"""The two stages of a training run, and what both feed the model.

- :mod:`.frames`: the CNN and the per-frame head on single faces (reals, self-blends, real fakes);
- :mod:`.clips`: the LSTM and the clip head on sequences of the frozen CNN's features;
- :mod:`.model_input`: one face as the model sees it in training (blend, crop, camera, degradations);
- :mod:`.teacher`: a trained checkpoint giving soft targets to a student;
- :mod:`.schedule`: the learning-rate schedule and the console progress both stages share.

:mod:`dfcore.training.train` runs them in order for each run of the recipe.
"""
