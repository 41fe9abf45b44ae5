from django import forms


class ContactForm(forms.Form):
    name = forms.CharField(max_length=200, required=False)
    email = forms.EmailField()
    subject = forms.CharField(max_length=200)
    message = forms.CharField(widget=forms.Textarea(attrs={"rows": 6}), max_length=20_000)
    # A field people never see: bots fill it in, and their message is dropped (answered as if sent).
    website = forms.CharField(required=False, widget=forms.TextInput(attrs={"tabindex": "-1", "autocomplete": "off"}))
