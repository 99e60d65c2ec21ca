"""A minimal Faust app (exactly-once) used to prove Faust/aiokafka work with our Kafka release."""

import os

import faust

app = faust.App(
    "streamscore-echo-" + os.environ["ECHO_IN"],
    broker="kafka://" + os.environ["ECHO_BROKER"],
    store="memory://",
    processing_guarantee="exactly_once",
    web_enabled=False,
    datadir=os.environ["ECHO_DATADIR"],
    topic_replication_factor=1,
)
source = app.topic(os.environ["ECHO_IN"], value_serializer="raw")
sink = app.topic(os.environ["ECHO_OUT"], value_serializer="raw")


@app.agent(source)
async def echo(stream):
    async for values in stream.take(100, within=0.5):
        for value in values:
            await sink.send(value=value.upper())
