"""Accounts API."""

from django.shortcuts import get_object_or_404
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User


class PublicUserSerializer(serializers.ModelSerializer):
    display_name = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "username", "display_name", "role"]

    def get_display_name(self, user) -> str:
        return user.get_full_name() or user.username


class PublicUserView(APIView):
    """What anyone may know about a user: id, username, display name, role."""

    permission_classes = [AllowAny]
    serializer_class = PublicUserSerializer

    def get(self, request, id):
        user = get_object_or_404(User, pk=id, is_active=True)
        return Response(PublicUserSerializer(user).data)
