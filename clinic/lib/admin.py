"""Admin pieces shared by the apps."""


class ReadOnlyAdminMixin:
    """Evidence for an auditor (message log, offers): it can be read and searched, never
    added, edited or deleted from the admin. Mix in before the ModelAdmin class."""

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
