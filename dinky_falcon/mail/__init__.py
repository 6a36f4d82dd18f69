"""Mail: request -> email message and envelope, and what is done to the bytes before they leave."""
