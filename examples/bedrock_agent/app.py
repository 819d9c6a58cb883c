"""An Amazon Bedrock agent action group served by a FastAPI app through mangum_like.

The app's OpenAPI document is the action group's API schema: the agent reads each operation's
path, parameters, request body and description, picks one, and invokes the Lambda function
with an event naming ``apiPath`` and ``httpMethod``. ``Mangum`` turns that event into a request
against the app (path parameters filled in, the others as the query, the body as JSON) and the
app's response into the envelope the agent expects. The same function keeps serving HTTP
events, so the routes can be tried with curl behind a Function URL as well.

Print the schema to upload with the action group::

    python -m examples.bedrock_agent.app > action-group-schema.json

Check the printed schema against the OpenAPI versions the Bedrock console accepts for action
groups; FastAPI's ``openapi_version`` setting changes the version it declares.
"""

from __future__ import annotations

import json
from typing import Literal

from fastapi import FastAPI, HTTPException, Query
from pydantic import BaseModel, Field

from mangum_like import Mangum

app = FastAPI(
    title="Insurance claims",
    version="1.0.0",
    description="Actions an insurance agent takes on open claims.",
)


class Claim(BaseModel):
    claim_id: str = Field(alias="claimId", description="The claim's identifier.")
    policy_holder_id: str = Field(alias="policyHolderId")
    status: Literal["open", "pending documents", "closed"]


class MissingDocuments(BaseModel):
    pending_documents: list[str] = Field(alias="pendingDocuments")


class Reminder(BaseModel):
    claim_id: str = Field(alias="claimId", description="The claim to send reminders for.")
    pending_documents: list[str] = Field(
        alias="pendingDocuments", description="The documents still missing."
    )


class ReminderSent(BaseModel):
    send_reminder_tracking_id: str = Field(alias="sendReminderTrackingId")
    send_reminder_status: Literal["InProgress", "Completed", "Failed"] = Field(
        alias="sendReminderStatus"
    )


# A stand-in for the claims database.
CLAIMS = {
    "claim-006": Claim(claimId="claim-006", policyHolderId="A945684", status="open"),
    "claim-857": Claim(claimId="claim-857", policyHolderId="A645987", status="open"),
    "claim-334": Claim(claimId="claim-334", policyHolderId="A987654", status="closed"),
}
MISSING = {"claim-006": ["DriverLicense", "VehicleRegistration"], "claim-857": []}


@app.get(
    "/claims",
    operation_id="getAllOpenClaims",
    description="Gets the list of all open insurance claims, optionally for one policy holder.",
    response_model_by_alias=True,
)
async def open_claims(
    policy_holder_id: str | None = Query(None, alias="policyHolderId"),
) -> list[Claim]:
    return [
        claim
        for claim in CLAIMS.values()
        if claim.status == "open"
        and (policy_holder_id is None or claim.policy_holder_id == policy_holder_id)
    ]


@app.get(
    "/claims/{claimId}/identify-missing-documents",
    operation_id="identifyMissingDocuments",
    description="Gets the documents still missing for an open claim.",
    response_model_by_alias=True,
)
async def missing_documents(claimId: str) -> MissingDocuments:
    if claimId not in MISSING:
        raise HTTPException(status_code=404, detail=f"no open claim {claimId}")
    return MissingDocuments(pendingDocuments=MISSING[claimId])


@app.post(
    "/send-reminders",
    operation_id="sendReminders",
    description="Sends reminders to the policy holder to provide the pending documents.",
    response_model_by_alias=True,
)
async def send_reminders(reminder: Reminder) -> ReminderSent:
    if reminder.claim_id not in CLAIMS:
        raise HTTPException(status_code=404, detail=f"no claim {reminder.claim_id}")
    return ReminderSent(
        sendReminderTrackingId="50e8400-e29b-41d4-a716", sendReminderStatus="InProgress"
    )


handler = Mangum(app, lifespan="off")

if __name__ == "__main__":
    print(json.dumps(app.openapi(), indent=2))
