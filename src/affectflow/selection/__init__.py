"""Feature selection: Principal Feature Analysis and Weka-faithful CFS."""
