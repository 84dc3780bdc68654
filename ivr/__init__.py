"""Twilio edge: voice webhooks, status callbacks, TwiML and REST senders."""
