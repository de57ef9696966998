"""SMART Backend Services endpoints: discovery and the token endpoint (docs/smart.md).

Both answer without a bearer: discovery is public by definition, and the token endpoint
authenticates the client by its signed assertion.
"""

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from clinic.lib.clientip import client_ip
from ehr import smart

# RFC 6749 5.1: token responses must not be cached anywhere.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
SCOPES_SUPPORTED = ["system/Appointment.read", "system/Appointment.write",
                    "system/Appointment.rs", "system/Appointment.cud"]


@require_GET
def smart_configuration(request):
    return JsonResponse({
        "issuer": settings.PUBLIC_BASE_URL + "/api/fhir",
        "token_endpoint": smart.token_url(),
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": list(smart.ALGORITHMS),
        "grant_types_supported": ["client_credentials"],
        "scopes_supported": SCOPES_SUPPORTED,
        "response_types_supported": ["token"],
        "capabilities": ["client-confidential-asymmetric", "permission-v1", "permission-v2"],
    })


@csrf_exempt
@require_POST
def token(request):
    form = request.POST
    try:
        if request.content_type != "application/x-www-form-urlencoded":
            raise smart.OAuthError("invalid_request", "send the token request as "
                                   "application/x-www-form-urlencoded")
        raw_token, issued = smart.token_grant(
            grant_type=form.get("grant_type", ""),
            assertion_type=form.get("client_assertion_type", ""),
            assertion=form.get("client_assertion", ""),
            scope=form.get("scope", ""),
            client_id=form.get("client_id", ""),
            peer=client_ip(request) or "",
        )
    except smart.OAuthError as error:
        return JsonResponse({"error": error.error, "error_description": error.description},
                            status=error.status, headers=NO_STORE)
    return JsonResponse({"access_token": raw_token, "token_type": "bearer",
                         "expires_in": settings.SMART_ACCESS_TOKEN_SECONDS,
                         "scope": issued.scopes}, headers=NO_STORE)
