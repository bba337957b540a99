"""What the dashboard's pages share (the router, the models, analyses, the result view); never a page itself.

The page scripts live in ``pages/``; this package is not a page folder, so
nothing in it is ever listed as a page.
"""
