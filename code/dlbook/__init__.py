"""dlbook: the tested implementations behind *Deep Neural Networks, Worked*.

Submodules are imported on demand (``from dlbook.graphs import count_walks``)
so that importing one topic does not pull in every other topic's dependencies.
"""

__version__ = "0.1.0"
