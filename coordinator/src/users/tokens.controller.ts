/** API tokens for scripts: each acts as the user who made it, with that user's role. For admins only. */
import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Req } from '@nestjs/common';
import { NewTokenRequestSchema, type CreatedTokenView, type TokenView } from '@fl/shared';
import { parseBody } from '../validation';
import { AdminOnly, type AuthenticatedRequest } from './admin.guard';
import { TokensService } from './users.service';

@Controller('api/tokens')
@AdminOnly()
export class TokensController {
  constructor(@Inject(TokensService) private readonly tokens: TokensService) {}

  @Get()
  list(): Promise<TokenView[]> {
    return this.tokens.list();
  }

  /** The answer holds the token: it is shown this once and stored only as a hash. */
  @Post()
  @HttpCode(201)
  create(@Body() body: unknown, @Req() req: AuthenticatedRequest): Promise<CreatedTokenView> {
    return this.tokens.create(req.principal, parseBody(NewTokenRequestSchema, body).label);
  }

  @Delete(':id')
  @HttpCode(204)
  async revoke(@Param('id') id: string, @Req() req: AuthenticatedRequest): Promise<void> {
    await this.tokens.revoke(id, req.principal.actor);
  }
}
