"""A model that cannot load: it says so and exits."""

import sys

print("cannot load the model: model.joblib is missing", flush=True)
sys.exit(3)
