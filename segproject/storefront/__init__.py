"""A demo storefront that sends its visits through analytics.js to the app mounted at /seg/."""
