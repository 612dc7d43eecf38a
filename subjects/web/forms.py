from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _


class StartForm(forms.Form):
    email = forms.EmailField(
        label=_("Your e-mail address"), max_length=254,
        help_text=_("We send a link to this address. Results are only ever shown or sent to it."),
        error_messages={"required": _("Please enter your e-mail address."),
                        "invalid": _("Please enter a valid e-mail address, "
                                     "like name@example.org.")},
    )
    language = forms.ChoiceField(label=_("Language for e-mails and pages"), choices=())
    consent = forms.BooleanField(
        label=_("I explicitly consent to the processing of my selfie as biometric data "
                "(Art. 9(2)(a) GDPR), only to search for my face and handle this request. "
                "The camera check's short videos are deleted as soon as it ends; one picture of "
                "my face is kept privately until the Data Protection Officer has decided my "
                "request, then deleted; its face template is deleted when the request is "
                "closed. I can withdraw this consent at any time."),
        error_messages={"required": _("We can only search for your face with your explicit "
                                      "consent. Please tick the box to continue.")},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["language"].choices = [(code, name) for code, name in settings.LANGUAGES]


class AnswerForm(forms.Form):
    answer = forms.CharField(label=_("Your answer"), max_length=4000,
                             widget=forms.Textarea(attrs={"rows": 5}),
                             error_messages={"required": _("Please write your answer.")})
    photo = forms.FileField(label=_("A photo, if we asked for one"), required=False)


class SelfieForm(forms.Form):
    photo = forms.FileField(
        label=_("Your selfie"),
        help_text=_("A clear photo of your face alone, looking at the camera: JPEG, PNG, WebP "
                    "or HEIC, at most 10 MB."),
        error_messages={"required": _("Please choose a photo or take one with your camera."),
                        "empty": _("The file is empty. Please choose a photo and try again.")},
    )
