from rest_framework.response import Response
from rest_framework.views import APIView


class MonoWebhookView(APIView):
    """Placeholder until the webhook pipeline lands (issue 3)."""

    authentication_classes: list = []
    permission_classes: list = []

    def post(self, request):
        return Response({"detail": "Not implemented yet."}, status=501)
