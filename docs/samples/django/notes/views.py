from django.http import JsonResponse

from .models import Note


def note_list(request):
    """A sync view: Django runs it in a worker thread."""
    if request.method == "POST":
        Note.objects.create(text=request.POST["text"])
    texts = Note.objects.order_by("id").values_list("text", flat=True)
    return JsonResponse({"notes": list(texts)})


async def latest_note(request):
    """An async view: it runs on the server's event loop, with the async ORM."""
    note = await Note.objects.order_by("id").alast()
    return JsonResponse({"latest": note.text if note else None})
