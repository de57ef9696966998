"""Admin pieces shared by the apps."""

from django.contrib.admin.widgets import AdminSplitDateTime


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


class LabelledAdminSplitDateTime(AdminSplitDateTime):
    """The admin's date + time inputs, each with an accessible name ("Added at: date").
    Django's own leaves both unlabelled (its field label points at neither), which axe
    reports as a critical violation. Installed for every DateTimeField in ClinicConfig."""

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        field = name.replace("_", " ").capitalize()
        for subwidget, part in zip(context["widget"]["subwidgets"], ("date", "time"),
                                   strict=True):
            subwidget["attrs"]["aria-label"] = f"{field}: {part}"
        return context
