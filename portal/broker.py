"""kombu's SQLAlchemy transport, polling more often than its default second.

The demo's broker is the embedded PostgreSQL; a second of latency per task
would make the selfie search feel slow. Production brokers (Redis,
RabbitMQ) push messages and do not use this."""

from kombu.transport.sqlalchemy import Transport as SQLAlchemyTransport


class Transport(SQLAlchemyTransport):
    polling_interval = 0.2
