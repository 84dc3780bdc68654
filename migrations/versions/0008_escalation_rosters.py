"""Duty-manager rosters: a roster per region and kind, its members in ring order, weekly shifts
in local time, overrides by local date, and the roster gap last warned of. New tables only.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 14:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import db.base


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('escalation_roster_gaps',
    sa.Column('region', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('gap_since', db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('warned_at', db.base.UtcDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('region', 'kind', name=op.f('pk_escalation_roster_gaps'))
    )
    op.create_table('escalation_rosters',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('region', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('fallback_user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('updated_at', db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['fallback_user_id'], ['users.id'], name=op.f('fk_escalation_rosters_fallback_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalation_rosters')),
    sa.UniqueConstraint('region', 'kind', name=op.f('uq_escalation_rosters_region_kind'))
    )
    op.create_table('escalation_roster_members',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('roster_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['roster_id'], ['escalation_rosters.id'], name=op.f('fk_escalation_roster_members_roster_id_escalation_rosters'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_escalation_roster_members_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalation_roster_members')),
    sa.UniqueConstraint('roster_id', 'user_id', name=op.f('uq_escalation_roster_members_roster_id_user_id'))
    )
    with op.batch_alter_table('escalation_roster_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_escalation_roster_members_roster_id'), ['roster_id'], unique=False)

    op.create_table('escalation_roster_overrides',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('roster_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('substitute_user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('first_day', sa.Date(), nullable=False),
    sa.Column('last_day', sa.Date(), nullable=False),
    sa.Column('note', sa.String(length=400), nullable=True),
    sa.Column('created_at', db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['roster_id'], ['escalation_rosters.id'], name=op.f('fk_escalation_roster_overrides_roster_id_escalation_rosters'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['substitute_user_id'], ['users.id'], name=op.f('fk_escalation_roster_overrides_substitute_user_id_users')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_escalation_roster_overrides_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalation_roster_overrides'))
    )
    with op.batch_alter_table('escalation_roster_overrides', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_escalation_roster_overrides_roster_id'), ['roster_id'], unique=False)

    op.create_table('escalation_roster_shifts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('roster_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('weekday', sa.Integer(), nullable=False),
    sa.Column('starts', sa.String(length=5), nullable=False),
    sa.Column('ends', sa.String(length=5), nullable=False),
    sa.Column('member_ids', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['roster_id'], ['escalation_rosters.id'], name=op.f('fk_escalation_roster_shifts_roster_id_escalation_rosters'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalation_roster_shifts'))
    )
    with op.batch_alter_table('escalation_roster_shifts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_escalation_roster_shifts_roster_id'), ['roster_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('escalation_roster_shifts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_escalation_roster_shifts_roster_id'))

    op.drop_table('escalation_roster_shifts')
    with op.batch_alter_table('escalation_roster_overrides', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_escalation_roster_overrides_roster_id'))

    op.drop_table('escalation_roster_overrides')
    with op.batch_alter_table('escalation_roster_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_escalation_roster_members_roster_id'))

    op.drop_table('escalation_roster_members')
    op.drop_table('escalation_rosters')
    op.drop_table('escalation_roster_gaps')
