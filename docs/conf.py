"""Sphinx configuration of the documentation site (``make docs``, ``tabstudy docs``).

:mod:`tabstudy.docsite.build` copies these pages, the run's executed notebooks and its model
card into one source tree and builds it with this file (``sphinx-build -c docs``). Everything
the site needs ships with the installed packages: no notebook is executed, nothing is fetched.
"""

project = "tabstudy"
author = "tabstudy maintainers"
copyright = "tabstudy maintainers"

extensions = ["myst_nb"]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]

# The executed notebooks under reports/notebooks are rendered with their outputs, as the run
# left them; never re-executed (the pipeline ran them, with the parameters they show).
nb_execution_mode = "off"
nb_remove_code_source = True  # as the reports' own pages: results, not the one-line calls
nb_merge_streams = True
myst_heading_anchors = 3  # [text](page.md#a-heading) links resolve, and Sphinx checks them
myst_enable_extensions = ["colon_fence"]

html_theme = "sphinx_book_theme"
html_title = "tabstudy"
html_copy_source = False
html_show_sourcelink = False
html_last_updated_fmt = None
html_static_path = ["_static"]
html_css_files = ["tabstudy.css"]
html_theme_options = {
    "show_toc_level": 2,
    "use_download_button": False,
    "use_fullscreen_button": False,
    "use_repository_button": False,
    "use_sidenotes": False,
    "navigation_with_keys": False,
}
