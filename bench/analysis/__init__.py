"""Analysis of stored results: roofline placement, bandwidth bottleneck, energy Pareto, comparisons."""
