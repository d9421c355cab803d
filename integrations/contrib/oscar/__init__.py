"""django-oscar's shop signals sent to Seg as Segment calls, with no code in the shop.

Install with ``pip install django-seg-integrations[oscar]`` and add
``"integrations.contrib.oscar"`` to ``INSTALLED_APPS``; the README's
"django-oscar" section lists the settings and what is sent.
"""
