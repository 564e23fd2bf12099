"""What the routes need, as typed FastAPI dependencies: a route's signature says
which collaborators it uses. Async, so FastAPI calls them on the event loop
rather than in its thread pool."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from .dispatch import Dispatcher
from .state import State
from .store import JobStore


async def get_state(request: Request) -> State:
    return request.app.state.conveyor


async def get_store(request: Request) -> JobStore:
    return request.app.state.conveyor.store


async def get_dispatcher(request: Request) -> Dispatcher:
    return request.app.state.conveyor.dispatcher


AppState = Annotated[State, Depends(get_state)]
Store = Annotated[JobStore, Depends(get_store)]
Dispatch = Annotated[Dispatcher, Depends(get_dispatcher)]
