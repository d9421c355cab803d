"""The storefront's URLs; the example project serves them at its root."""

from django.contrib.auth.views import LogoutView
from django.urls import path, reverse_lazy

from . import views

app_name = "storefront"

urlpatterns = [
    path("", views.catalogue, name="catalogue"),
    path("category/<slug:slug>/", views.catalogue, name="category"),
    path("product/<str:product_id>/", views.product_page, name="product"),
    path("product/<str:product_id>/add/", views.add_to_basket, name="add"),
    path("basket/", views.basket_page, name="basket"),
    path("checkout/", views.checkout, name="checkout"),
    path("order/<str:order_id>/", views.order_page, name="order"),
    # Where login_required sends a visitor (Django's default LOGIN_URL).
    path("accounts/login/", views.Login.as_view(), name="login"),
    path(
        "accounts/logout/",
        LogoutView.as_view(next_page=reverse_lazy("storefront:catalogue")),
        name="logout",
    ),
]
