"""Mail: a request becomes an email message and its envelope; never imports falcon or marshmallow."""
