"""Server-rendered pages: Explore, the public profile (/@username), the creator studio."""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_http_methods, require_POST

from creators import selectors, services
from creators.exceptions import CreatorNotFound, UnknownCategory
from creators.forms import CreatorProfileForm, initial_for
from digis.errors import DomainError


def explore(request, slug=None):
    try:
        query = selectors.parse_explore_query(request.GET, category=slug)
    except UnknownCategory:
        raise Http404("unknown category")
    except DomainError as exc:
        return render(request, "400.html", {"message": exc.message}, status=400)
    viewer = request.user
    base = request.path
    category = selectors.category_by_slug(query.category) if query.category else None
    first_page = not query.cursor
    # The "Live now" / "Online now" strips this page shows.
    sections = [kind for kind, shown in (("live", not query.q), ("online", not query.q and not query.online))
                if shown and first_page]

    def build(hidden=frozenset()) -> str:
        # Everything here depends on the query, never on the viewer beyond
        # whom they hide (nobody when the result is shared).
        page = selectors.explore(query, hidden=hidden)
        context = {
            "query": query,
            "page": page,
            "categories": selectors.categories(),
            "category": category,
            "sorts": selectors.SORTS,
            "live_now": selectors.section("live", hidden=hidden, category=query.category) if "live" in sections else [],
            "online_now": selectors.section("online", hidden=hidden, category=query.category) if "online" in sections else [],
            "next_url": f"{base}?{urlencode(query.as_params(cursor=page.next_cursor, with_category=slug is None))}"
            if page.next_cursor
            else None,
            "sort_links": [
                (sort, f"{base}?{urlencode({**query.as_params(with_category=slug is None), 'sort': sort})}")
                for sort in selectors.SORTS
            ],
        }
        return render_to_string("creators/explore_content.html", context)

    def frame(content: str) -> dict:
        return {"content": mark_safe(content), "category": category}

    if viewer.is_authenticated:
        # Blocks apply. A viewer who hides nobody the shared content shows
        # (most viewers) gets it; the others get it built for them from the
        # shared pages minus whom they hide.
        hidden = selectors.hidden_user_ids(viewer)
        if selectors.viewer_sees_shared_page(query, hidden) and selectors.viewer_sees_shared_sections(sections, hidden, query.category):
            content = selectors.anonymous_explore_cached(("page", base, query), build)
        else:
            content = build(hidden)
    elif not len(messages.get_messages(request)):  # len() reads them without marking them shown
        # An anonymous visitor with no flash message to show gets the same
        # frame (navigation, no CSRF token) as every other one, so the whole
        # page is shared: a hit renders no template at all.
        page = selectors.anonymous_explore_cached(
            ("page-html", base, query),
            lambda: render_to_string("creators/explore.html", frame(build()), request=request),
        )
        return HttpResponse(page)
    else:
        content = selectors.anonymous_explore_cached(("page", base, query), build)
    # The frame (navigation, flash messages) is rendered per request.
    return render(request, "creators/explore.html", frame(content))


def profile(request, username):
    try:
        card = selectors.profile_card(username, viewer=request.user)
    except CreatorNotFound:
        raise Http404("no such creator")
    is_self = request.user.is_authenticated and str(request.user.pk) == card["id"]
    return render(request, "creators/profile.html", {"creator": card, "is_self": is_self})


@login_required
@require_POST
def follow(request, username):
    try:
        card = selectors.profile_card(username, viewer=request.user)
        if request.POST.get("action") == "unfollow":
            services.unfollow_creator(follower=request.user, creator_user_id=card["id"])
        else:
            services.follow_creator(follower=request.user, creator_user_id=card["id"])
    except CreatorNotFound:
        raise Http404("no such creator")
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("creators:profile", username=card["username"])


@login_required
@require_http_methods(["GET", "POST"])
def studio(request):
    profile = selectors.own_profile(request.user)
    if profile is None:
        return render(request, "creators/not_creator.html", status=403)
    if request.method == "POST":
        form = CreatorProfileForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                services.update_creator_profile(user=request.user, **form.changes())
            except DomainError as exc:
                for name, errors in (exc.fields or {"__all__": [exc.message]}).items():
                    form.add_error(name if name in form.fields else None, errors)
            else:
                messages.success(request, "Your profile is saved.")
                return redirect("creators:studio")
        status = 400
    else:
        form = CreatorProfileForm(initial=initial_for(profile))
        status = 200
    return render(request, "creators/studio.html", {"form": form, "profile": profile}, status=status)
