"""Figures: Display-style classes that store results and return plotly figures; static export."""
