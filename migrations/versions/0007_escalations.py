"""Escalations: the escalation of an SR, its append-only events, action plan, communication plan,
vendor cases; severity raises (not escalations)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 13:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import db.base


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    
    op.create_table('severity_raises',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('sr_number', sa.String(length=16), nullable=False),
    sa.Column('region', sa.String(length=40), nullable=False),
    sa.Column('call_sid', sa.String(length=64), nullable=True),
    sa.Column('reason', sa.String(length=1000), nullable=True),
    sa.Column('requested_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', db.base.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_severity_raises')),
    sa.UniqueConstraint('call_sid', name=op.f('uq_severity_raises_call_sid'))
    )
    with op.batch_alter_table('severity_raises', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_severity_raises_sr_number'), ['sr_number'], unique=False)

    op.create_table('escalations',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('sr_number', sa.String(length=16), nullable=False),
    sa.Column('region', sa.String(length=40), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('reason_text', sa.String(length=1000), nullable=True),
    sa.Column('is_us_government', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('raised_by_kind', sa.String(length=16), nullable=False),
    sa.Column('raised_by_user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('raised_by', sa.String(length=200), nullable=False),
    sa.Column('call_sid', sa.String(length=64), nullable=True),
    sa.Column('contact_number', sa.String(length=32), nullable=True),
    sa.Column('owner_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('accepted_at', db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('engineer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('engineer_assigned_at', db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('management_informed_at', db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('plan_satisfactory_at', db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('plan_satisfactory_by', sa.String(length=200), nullable=True),
    sa.Column('analysis_on_track_at', db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('analysis_on_track_by', sa.String(length=200), nullable=True),
    sa.Column('customer_agreed_at', db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('customer_agreed_by', sa.String(length=200), nullable=True),
    sa.Column('customer_agreed_how', sa.String(length=200), nullable=True),
    sa.Column('de_escalated_at', db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('created_at', db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', db.base.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['engineer_id'], ['users.id'], name=op.f('fk_escalations_engineer_id_users')),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_escalations_owner_id_users')),
    sa.ForeignKeyConstraint(['raised_by_user_id'], ['users.id'], name=op.f('fk_escalations_raised_by_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalations')),
    sa.UniqueConstraint('call_sid', name=op.f('uq_escalations_call_sid'))
    )
    with op.batch_alter_table('escalations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_escalations_sr_number'), ['sr_number'], unique=False)

    op.create_table('escalation_communication_plans',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('escalation_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('every_minutes', sa.Integer(), nullable=False),
    sa.Column('participants', sa.JSON(), nullable=False),
    sa.Column('next_update_due_at', db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('last_update_at', db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('reminded_for', db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('missed_for', db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', db.base.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['escalation_id'], ['escalations.id'], name=op.f('fk_escalation_communication_plans_escalation_id_escalations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalation_communication_plans')),
    sa.UniqueConstraint('escalation_id', name=op.f('uq_escalation_communication_plans_escalation_id'))
    )
    op.create_table('escalation_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('escalation_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('at', db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['escalation_id'], ['escalations.id'], name=op.f('fk_escalation_events_escalation_id_escalations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_escalation_events_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalation_events'))
    )
    with op.batch_alter_table('escalation_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_escalation_events_escalation_id'), ['escalation_id'], unique=False)

    op.create_table('escalation_plan_steps',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('escalation_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('owner', sa.String(length=200), nullable=False),
    sa.Column('due_at', db.base.UtcDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['escalation_id'], ['escalations.id'], name=op.f('fk_escalation_plan_steps_escalation_id_escalations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalation_plan_steps'))
    )
    with op.batch_alter_table('escalation_plan_steps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_escalation_plan_steps_escalation_id'), ['escalation_id'], unique=False)

    op.create_table('escalation_vendor_cases',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('escalation_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('vendor', sa.String(length=200), nullable=False),
    sa.Column('case_number', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=100), nullable=False),
    sa.Column('via', sa.String(length=32), nullable=False),
    sa.Column('updated_at', db.base.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['escalation_id'], ['escalations.id'], name=op.f('fk_escalation_vendor_cases_escalation_id_escalations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalation_vendor_cases')),
    sa.UniqueConstraint('escalation_id', 'vendor', 'case_number', name=op.f('uq_escalation_vendor_cases_escalation_id_vendor_case_number'))
    )
    with op.batch_alter_table('escalation_vendor_cases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_escalation_vendor_cases_escalation_id'), ['escalation_id'], unique=False)

    


def downgrade() -> None:
    
    with op.batch_alter_table('escalation_vendor_cases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_escalation_vendor_cases_escalation_id'))

    op.drop_table('escalation_vendor_cases')
    with op.batch_alter_table('escalation_plan_steps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_escalation_plan_steps_escalation_id'))

    op.drop_table('escalation_plan_steps')
    with op.batch_alter_table('escalation_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_escalation_events_escalation_id'))

    op.drop_table('escalation_events')
    op.drop_table('escalation_communication_plans')
    with op.batch_alter_table('escalations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_escalations_sr_number'))

    op.drop_table('escalations')
    with op.batch_alter_table('severity_raises', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_severity_raises_sr_number'))

    op.drop_table('severity_raises')
    
