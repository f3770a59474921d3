"""Trading strategies: the model, the engine (base class and registry), runs and orders."""
