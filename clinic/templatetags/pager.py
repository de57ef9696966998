from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def page_url(context, param: str, number) -> str:
    """'?offers=2&entries=3': this page's query string with one pager moved, so a page with
    several pagers keeps the others where they were."""
    query = context["request"].GET.copy()
    query[param] = number
    return f"?{query.urlencode()}"
