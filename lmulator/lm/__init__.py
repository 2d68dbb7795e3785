"""The LM side: requests and replies, clients, the reply cache, replay files, the embedded model."""
