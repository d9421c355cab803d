"""django-oscar's shop signals sent to Seg as Segment calls, with no code in the shop.

Install the app's wheel with its ``oscar`` extra (Oscar and sorl-thumbnail, its
default thumbnailer) and add ``"integrations.contrib.oscar"`` to
``INSTALLED_APPS``; the README's "django-oscar" section lists the settings and
what is sent.
"""
