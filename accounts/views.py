from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from .models import LinkedAccount


class SignInView(auth_views.LoginView):
    template_name = "registration/login.html"


@login_required
def dashboard(request):
    accounts = LinkedAccount.objects.for_user(request.user).order_by("institution_name", "id")
    return render(request, "accounts/dashboard.html", {"accounts": accounts})
