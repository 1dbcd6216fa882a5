"""e2e_tutorial: the helper package of the course "End-to-end particle classification in HEP".

Data flow one way through its modules: event generation -> detector -> images and
reconstruction -> datasets -> models and training -> metrics and plots. Notebooks import from
here and stay thin; every size knob is in :mod:`e2e_tutorial.config`.
"""

__version__ = "0.1.0"
