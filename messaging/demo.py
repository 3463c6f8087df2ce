"""Demo conversations for `manage.py seed_demo`: alice has talked with luna (a paid message
answered, another still held) and kai has written to her. Fixed client ids: idempotent."""

from messaging import services


def seed(context):
    fan = context.get("fan")
    creators = {user.username: user for user in context.get("creators", [])}
    if fan is None or "luna" not in creators or "kai" not in creators:
        return
    luna, kai = creators["luna"], creators["kai"]
    with_luna, _ = services.open_conversation(user=fan, with_user=luna)
    script = [
        (fan, with_luna, "demo-1", "Hi Luna! Which synth did you use on last night's stream?"),
        (luna, with_luna, "demo-2", "Hey Alice! A Juno-106 through a cheap tape echo. Want the patch?"),
        (fan, with_luna, "demo-3", "Yes please! And could you do a slower version next time?"),
    ]
    with_kai, _ = services.open_conversation(user=kai, with_user=fan)
    script.append((kai, with_kai, "demo-4", "Thanks for the follow! I'm live tonight at 20:00 with a new route."))
    for sender, conversation, client_id, text in script:
        services.send_message(sender=sender, conversation_id=conversation.pk, client_message_id=client_id, text=text)
    if "stdout" in context:
        context["stdout"].write("messaging: alice has a paid message answered by luna, one still held, and a note from kai")
