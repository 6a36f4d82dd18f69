"""Contact forms: the resource, the mail a submission produces, the fill-time token."""
