"""Linear probes on frozen features: does an input carry evidence of a kind of fake the model never saw?

A new input branch costs hours of training on 2 cores to measure; a probe answers the narrower question in
minutes. :mod:`.linear` fits and scores the probes (leave one kind of fake out); :mod:`.spectrum` probes the
faces' residual spectrum, :mod:`.temporal` the change between neighbouring frames.
"""
