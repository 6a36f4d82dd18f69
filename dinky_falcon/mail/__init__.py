"""Mail: a request becomes an email message and its envelope, signed before it leaves; never
imports falcon or marshmallow."""
