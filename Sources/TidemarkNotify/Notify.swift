/// Notifications: channels (SMTP, Slack, webhook, heartbeat), delivery with retry.
public enum TidemarkNotify {}
