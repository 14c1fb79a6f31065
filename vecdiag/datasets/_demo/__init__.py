"""Hand-written source material of the demo corpus (the Halyard help centre).

``articles`` holds one-off articles written by hand, ``families`` the article families
a real help centre grows (one page per router model, per firmware release, per error
code, per region, boilerplate stubs, long guides), ``queries`` the search queries with
graded judgments. :mod:`vecdiag.datasets.build_demo` assembles and embeds them.
"""
