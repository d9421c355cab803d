"""A django-oscar shop with the Oscar integration installed, for tests/test_oscar.py."""
