/** Users of the dashboard and the API: for admins only, reads included. */
import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Req } from '@nestjs/common';
import { NewUserRequestSchema, type UserView } from '@fl/shared';
import { parseBody } from '../validation';
import { AdminOnly, type AuthenticatedRequest } from './admin.guard';
import { UsersService } from './users.service';

@Controller('api/users')
@AdminOnly()
export class UsersController {
  constructor(@Inject(UsersService) private readonly users: UsersService) {}

  @Get()
  list(): Promise<UserView[]> {
    return this.users.list();
  }

  @Post()
  @HttpCode(201)
  add(@Body() body: unknown, @Req() req: AuthenticatedRequest): Promise<UserView> {
    return this.users.add(parseBody(NewUserRequestSchema, body), req.principal.actor);
  }

  @Delete(':name')
  @HttpCode(204)
  async remove(@Param('name') name: string, @Req() req: AuthenticatedRequest): Promise<void> {
    await this.users.remove(name, req.principal.actor);
  }
}
